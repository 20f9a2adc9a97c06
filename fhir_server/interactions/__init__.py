"""FHIR RESTful interactions (http://hl7.org/fhir/R4/http.html), independent of HTTP transport."""
