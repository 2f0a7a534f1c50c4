"""The school register: which schools exist, where, of what type, teaching which grades, and the one
check every registration, claim and transfer makes against it (``service.check_school``)."""
