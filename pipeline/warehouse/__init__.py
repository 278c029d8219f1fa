"""The research warehouse: aggregate tables (analytics), disclosure control, the closed label
vocabularies, numbered releases (publish), the researcher sandbox and the report."""
