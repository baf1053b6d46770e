"""The local stack: real engines on loopback under one state directory.

Public modules: :mod:`covenant.stack.manager` (``StackManager``) and
:mod:`covenant.stack.state` (the record of what was started). This package
imports nothing on purpose, so the state can be read without pulling in the
manager (``covenant.endpoints`` does exactly that).
"""
