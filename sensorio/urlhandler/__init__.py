"""pyserial URL handlers: module ``protocol_<scheme>`` serves ``<scheme>://``.

sensorio appends this package to ``serial.protocol_handler_packages`` on
import, so ``serial.serial_for_url("sim://...")`` works in any code that has
imported sensorio.
"""
