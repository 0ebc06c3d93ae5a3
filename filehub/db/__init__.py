"""Database access: tables (models), engine and sessions (session), migrations (migrate)."""
