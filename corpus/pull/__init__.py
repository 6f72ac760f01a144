"""Stage 5, pull: parse and validate exported annotations (`parse`), inter-annotator agreement
(`agreement`), adjudication and review (`adjudication`), pre-label quality (`quality`)."""
