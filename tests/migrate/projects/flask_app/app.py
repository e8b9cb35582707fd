"""A small Flask application with Flask-SQLAlchemy and Flask-Migrate, built by a factory.

Its own database URI points at "production" (a port nothing listens on): rehearse must point
the app at staging itself, never migrate what the app names.
"""
import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


class Shelf(db.Model):
    __tablename__ = "shelves"
    id = db.Column(db.Integer, primary_key=True)
    label = db.Column(db.Text, nullable=False)


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get(
        "SHELF_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/production")
    db.init_app(app)
    migrate.init_app(app, db)
    return app
