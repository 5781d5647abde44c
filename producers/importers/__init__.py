"""Importers and pollers for field tools that only export (VAN, Mobilize, any CSV).

Each tool has a pure row adapter (row -> canonical events, the contract of
producers/tools/base.py); :mod:`producers.importers.runner` reads the input, converts,
produces to the bulk lane, contacts.raw.bulk (unmapped codes to the DLQ) and keeps a
resumable checkpoint.
"""
