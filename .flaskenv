# Read by the `flask` command (python-dotenv): the app to load. Configuration itself comes
# from the environment; see .env.example and README.md.
FLASK_APP=wsgi
