"""Audience segmentation: the rule language, RFM, the awareness ladder, activity levels."""
