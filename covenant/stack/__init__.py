"""The local stack: real engines on loopback under one state directory.

Public module: :mod:`covenant.stack.manager` (``StackManager``). The record of
what was started lives in the kernel (:mod:`covenant.kernel.stackstate`), so the
endpoint resolver can read it without pulling in the manager.
"""
