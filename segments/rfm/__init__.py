"""RFM: quintile scoring of CRM purchases (`scoring`) and the stored scores (`store`)."""
