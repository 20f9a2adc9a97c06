"""The HTTP face of the server: routing, headers, formats, CapabilityStatement."""
