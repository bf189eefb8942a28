"""Documents: attachments, and the certificates and notices issued from registry data."""
