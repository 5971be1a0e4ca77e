"""One module per family of rules; each yields Findings for a DoctorContext."""
