"""CRM customers and orders: connectors, identity matching and the sync worker."""
