"""FHIR operations (http://hl7.org/fhir/R4/operations.html): one module each, one registry."""
