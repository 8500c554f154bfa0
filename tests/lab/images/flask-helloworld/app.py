"""Hello World in Flask: the same interface as digitalocean/flask-helloworld.

Answers "Hello World!" on port 5000 of every interface of the container.
"""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello_world():
    """Return the page the walkthrough expects."""
    return "Hello World!"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)  # noqa: S104 - a container listens on all its interfaces
