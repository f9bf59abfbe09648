from vidx.cli import app

app()
