"""Domain library of the telehealth assistant: importable and testable without Rasa running."""
