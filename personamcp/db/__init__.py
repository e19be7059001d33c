"""Database backends of Persona-MCP."""
