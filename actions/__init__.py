"""rasa-sdk actions: thin glue between Rasa and the domain library in telehealth/."""
