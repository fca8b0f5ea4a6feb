"""RFM: quintile scoring of CRM purchases (`scoring`), what each customer bought as the
database sums it (`purchases`), and the stored scores (`store`)."""
