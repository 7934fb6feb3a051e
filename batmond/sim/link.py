"""bumble's virtual radio, with the gaps patched that a long-running central would trip over.

The stock virtual controller ignores LE Create Connection Cancel (a timed-out connect then hangs every later
one), keeps connections across HCI Reset (a restarted daemon finds its BMS "connected" and silent), formats
debug strings for every packet, and has a 27-byte ACL buffer. The controller here fixes those, and can be
frozen (drops all HCI traffic) to test adapter recovery.
"""

from __future__ import annotations

import logging

from bumble import hci
from bumble.controller import Controller

log = logging.getLogger("batmond.sim")


class SimController(Controller):
    le_acl_data_packet_length = 251
    frozen = False

    def on_hci_packet(self, packet) -> None:
        if self.frozen:
            return
        super().on_hci_packet(packet)

    def send_hci_packet(self, packet) -> None:
        if self.frozen:
            return
        super().send_hci_packet(packet)

    def on_hci_le_create_connection_cancel_command(self, command):
        pending = self.pending_le_connection
        self.pending_le_connection = None
        if pending is not None:
            # Answer like a real controller: the pending connect completes with "unknown connection id".
            self.send_hci_packet(
                hci.HCI_LE_Connection_Complete_Event(
                    status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                    connection_handle=0,
                    role=hci.Role.CENTRAL,
                    peer_address_type=pending.peer_address.address_type,
                    peer_address=pending.peer_address,
                    connection_interval=0,
                    peripheral_latency=0,
                    supervision_timeout=0,
                    central_clock_accuracy=0,
                )
            )
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def on_hci_reset_command(self, command):
        # A reset drops every link, as real controllers do; peers see a supervision timeout.
        for connection in list(self.le_connections.values()):
            self.drop(connection, hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR, notify_self=False)
        self.pending_le_connection = None
        return super().on_hci_reset_command(command)

    def drop(self, connection, reason: int, notify_self: bool = True) -> None:
        """End a link on both sides without a goodbye, like a supervision timeout."""
        peer = self.link.find_le_controller(connection.peer_address)
        if peer is not None:
            for peer_connection in list(peer.le_connections.values()):
                if peer_connection.peer_address in (self.random_address, self.public_address):
                    peer.on_le_disconnected(peer_connection, reason)
        if notify_self:
            self.on_le_disconnected(connection, reason)
        else:
            self.le_connections.pop(connection.peer_address, None)

    def drop_all(self, reason: int = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR) -> None:
        for connection in list(self.le_connections.values()):
            self.drop(connection, reason)
