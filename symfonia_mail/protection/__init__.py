"""Password protection of attachments: PDFs encrypted, other files in ZIPs."""
