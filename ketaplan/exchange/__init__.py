"""Exchange with record systems and calendars (spec/exchange.md): FHIR R4 in and out, sessions as .ics.

Nothing here is on the drafting path: `plan --format json|text|markdown` and `check` of TOML files
never import this package's modules, nor fhir.resources, pydantic or icalendar.
"""
