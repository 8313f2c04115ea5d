"""Tenant "acme": a Flask app, served for Host acme.localhost."""

from flask import Flask, jsonify

app = Flask(__name__)
orders = [{"id": 1, "item": "anvil", "qty": 2}, {"id": 2, "item": "rocket skates", "qty": 1}]


@app.get("/")
def home():
    return "Welcome to ACME Corp.\n"


@app.get("/orders")
def list_orders():
    return jsonify(orders)
