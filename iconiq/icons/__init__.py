"""Icon generation: OpenAI's Images API and the offline ``local`` renderer."""
