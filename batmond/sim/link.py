"""bumble's virtual radio, with the gaps patched that a long-running central would trip over.

The stock virtual controller ignores LE Create Connection Cancel (a timed-out connect then hangs every later
one), keeps connections across HCI Reset (a restarted daemon finds its BMS "connected" and silent), formats
debug strings for every packet, has a 27-byte ACL buffer, accepts any number of connections and hears every
device at -50 dBm. The controller here fixes those: it has connection slots (Connection Limit Exceeded beyond
them), hears only the devices it is told to at their RSSI, answers Read RSSI, and can be frozen (drops all HCI
traffic, and its peers lose their links after a supervision timeout) to test adapter recovery.

Several adapters may share one :class:`SimLink`. A BMS accepts one central at a time: while connected it does not
advertise, so another adapter's connect to it waits (and times out) as on a real radio; a connect that raced
another adapter's to the same advertisement fails with Connection Failed To Be Established (0x3E).
"""

from __future__ import annotations

import asyncio
import logging

from bumble import core, hci, ll
from bumble.controller import Connection, Controller
from bumble.link import LocalLink

log = logging.getLogger("batmond.sim")

# Home Assistant's bluetooth-adapters assumes this many LE connections for a local adapter unless told otherwise
# (DEFAULT_CONNECTION_SLOTS in bluetooth_adapters/const.py); HA's docs say "most" USB adapters hold five.
DEFAULT_SLOTS = 5
DEFAULT_RSSI = -60
# s without a packet from a frozen controller before its peers give the link up (BlueZ's default is 4.2 s)
SUPERVISION_TIMEOUT = 4.0


class SimLink(LocalLink):
    """A virtual radio on which several centrals (adapters) and peripherals (BMS) meet.

    bumble's link hands every advertisement to every controller, and routes link-layer traffic by the receiver's
    address, which picks the wrong adapter when two adapters use the same address (a test's stock centrals do).
    Here advertisements go to centrals only, and each end of a link knows the other (``far_end``, set when the
    peripheral takes the CONNECT_IND), so a PDU reaches exactly its peer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.centrals: set[Controller] = set()

    def add_controller(self, controller: Controller) -> None:
        super().add_controller(controller)
        if getattr(controller, "central", False):
            self.centrals.add(controller)

    def remove_controller(self, controller: Controller) -> None:
        super().remove_controller(controller)
        self.centrals.discard(controller)

    def send_advertising_pdu(self, sender_controller: Controller, packet: ll.AdvertisingPdu) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(packet, ll.ConnectInd):
            loop.call_soon(self._deliver_connect_ind, sender_controller, packet)
            return
        # Peripherals never scan, so with N BMS this is N x adapters deliveries instead of N x N.
        for central in self.centrals:
            if central is not sender_controller:
                loop.call_soon(central.on_ll_advertising_pdu, packet)

    def _deliver_connect_ind(self, central: Controller, packet: ll.ConnectInd) -> None:
        initiated = central.le_connections.get(packet.advertiser_address)
        for controller in list(self.controllers):
            if controller is central:
                continue
            before = controller.le_connections.get(packet.initiator_address)
            controller.on_ll_advertising_pdu(packet)
            accepted = controller.le_connections.get(packet.initiator_address)
            if accepted is not None and accepted is not before and initiated is not None:
                accepted.far_end, initiated.far_end = initiated, accepted

    def send_acl_data(self, sender_controller: Controller, destination_address: hci.Address,
                      transport: core.PhysicalTransport, data: bytes) -> None:  # fmt: skip
        if transport != core.PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        connection = sender_controller.le_connections.get(destination_address)
        peer = far_end(connection) if connection is not None else None
        if peer is not None:  # else the peer is gone: the packet is lost in the air
            loop = asyncio.get_running_loop()
            loop.call_soon(peer.controller.on_link_acl_data, connection.self_address, transport, data)

    def send_ll_control_pdu(self, sender_address: hci.Address, receiver_address: hci.Address,
                            packet: ll.ControlPdu) -> None:  # fmt: skip
        # bumble passes addresses only: find the sender's live link (control PDUs are rare, a scan is fine).
        # bumble raises when there is none, which leaves a Disconnect command unanswered; a radio just sends.
        for controller in self.controllers:
            connection = controller.le_connections.get(receiver_address)
            if connection is None or connection.self_address != sender_address:
                continue
            peer = far_end(connection)
            if peer is not None:
                asyncio.get_running_loop().call_soon(peer.controller.on_ll_control_pdu, sender_address, packet)
                return
        log.debug("LL control PDU %s from %s to %s: no such link", packet, sender_address, receiver_address)


def far_end(connection: Connection) -> Connection | None:
    """The other end of a link, while both ends still hold it."""
    peer = getattr(connection, "far_end", None)
    if peer is None or peer.controller.le_connections.get(peer.peer_address) is not peer:
        return None
    if connection.controller.le_connections.get(connection.peer_address) is not connection:
        return None
    return peer


class SimController(Controller):
    """A virtual controller: an adapter the daemon drives over HCI (``central=True``) or a BMS's radio.

    ``slots`` caps LE connections (established plus the one being made; None: no cap, like bumble's);
    ``hears`` maps the MACs this radio receives to their RSSI, or is None to hear every device at
    ``default_rssi``. All three may change at run time.
    """

    le_acl_data_packet_length = 251
    link: SimLink

    def __init__(self, name: str, host_source=None, host_sink=None, link: SimLink | None = None,
                 public_address: str | None = None, *, central: bool = False, slots: int | None = DEFAULT_SLOTS,
                 hears: dict[str, int] | None = None) -> None:  # fmt: skip
        self.central = central  # before Controller.__init__, which adds the controller to the link
        self._frozen = False
        self._supervision: asyncio.TimerHandle | None = None
        self.slots = slots
        self.default_rssi = DEFAULT_RSSI
        self._set_hears(hears)
        super().__init__(name, host_source, host_sink, link or SimLink(), public_address)

    @property
    def frozen(self) -> bool:
        """A hung controller: it drops all HCI traffic, and its radio goes quiet, so its peers lose their links
        after a supervision timeout (and advertise again, free for another central)."""
        return self._frozen

    @frozen.setter
    def frozen(self, frozen: bool) -> None:
        self._frozen = frozen
        if self._supervision is not None:
            self._supervision.cancel()
            self._supervision = None
        if frozen:
            self._supervision = asyncio.get_running_loop().call_later(SUPERVISION_TIMEOUT, self.power_off)

    def on_hci_packet(self, packet) -> None:
        if self.frozen:
            return
        super().on_hci_packet(packet)

    def send_hci_packet(self, packet) -> None:
        if self.frozen:
            return
        super().send_hci_packet(packet)

    # -- hearing --------------------------------------------------------------------------------------------
    @property
    def hears(self) -> dict[str, int] | None:
        """MAC -> RSSI of the devices heard; None when every device is heard (at ``default_rssi`` unless
        :meth:`set_rssi` said otherwise)."""
        if self._hears_all:
            return None
        return {_mac(key): rssi for key, rssi in self._rssi.items() if rssi is not None}

    @hears.setter
    def hears(self, hears: dict[str, int] | None) -> None:
        self._set_hears(hears)
        self._drop_unheard()

    def _set_hears(self, hears: dict[str, int] | None) -> None:
        self._hears_all = hears is None
        # Keyed by the address bytes: one dict lookup per advertisement received, whatever the MAC's type.
        self._rssi: dict[bytes, int | None] = {_key(mac): rssi for mac, rssi in (hears or {}).items()}

    def rssi_of(self, address: hci.Address) -> int | None:
        """The RSSI this radio receives ``address`` at, None if it does not hear it."""
        default = self.default_rssi if self._hears_all else None
        return self._rssi.get(address.address_bytes, default)

    def set_rssi(self, mac: str, rssi: int | None) -> None:
        """Hear ``mac`` at ``rssi`` dBm from now on; None: no longer hear it (a link to it times out)."""
        self._rssi[_key(mac)] = rssi
        self._drop_unheard()

    def _drop_unheard(self) -> None:
        for connection in list(self.le_connections.values()):
            if self.rssi_of(connection.peer_address) is None:
                self.drop(connection, hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)

    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        rssi = self.rssi_of(pdu.advertiser_address)
        if rssi is None:
            return  # out of range: no report, and a pending connect to it keeps waiting
        if self.le_scan_enable:
            self._report(pdu, rssi)
        # The rest (periodic sync, a pending connect to this advertiser) is bumble's, without its -50 dBm reports.
        scanning = self.le_scan_enable
        self.le_scan_enable = False
        try:
            super().on_advertising_pdu(pdu)
        finally:
            self.le_scan_enable = scanning

    def _report(self, pdu: ll.AdvInd | ll.AdvExtInd, rssi: int) -> None:
        # Like bumble's controller (it has the LE Extended Advertising feature): extended reports, the
        # advertisement and a scan response with the same data.
        event = hci.HCI_LE_Extended_Advertising_Report_Event
        direct = pdu.target_address if isinstance(pdu, ll.AdvExtInd) else None
        for event_type in (event.EventType.CONNECTABLE_ADVERTISING, event.EventType.SCAN_RESPONSE):
            report = event.Report(
                event_type=event_type,
                address_type=pdu.advertiser_address.address_type,
                address=pdu.advertiser_address,
                primary_phy=hci.Phy.LE_1M,
                secondary_phy=hci.Phy.LE_1M,
                advertising_sid=0,
                tx_power=0,
                rssi=rssi,
                periodic_advertising_interval=0,
                direct_address_type=direct.address_type if direct else 0,
                direct_address=direct or hci.Address.ANY,
                data=pdu.data,
            )
            self.send_hci_packet(event([report]))

    def on_hci_read_rssi_command(self, command: hci.HCI_Read_RSSI_Command) -> hci.HCI_Read_RSSI_ReturnParameters:
        connection = self.find_le_connection_by_handle(command.handle)
        rssi = None if connection is None else self.rssi_of(connection.peer_address)
        if rssi is None:
            return hci.HCI_Read_RSSI_ReturnParameters(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR, handle=command.handle, rssi=0
            )
        return hci.HCI_Read_RSSI_ReturnParameters(status=hci.HCI_ErrorCode.SUCCESS, handle=command.handle, rssi=rssi)

    # -- connection slots -----------------------------------------------------------------------------------
    def _slots_full(self) -> bool:
        if self.slots is None:
            return False
        used = len(self.le_connections) + (self.pending_le_connection is not None)
        return used >= self.slots

    def on_hci_le_create_connection_command(self, command: hci.HCI_LE_Create_Connection_Command) -> None:
        if self._slots_full():
            self._send_hci_command_status(hci.HCI_ErrorCode.CONNECTION_LIMIT_EXCEEDED_ERROR, command.op_code)
            return
        super().on_hci_le_create_connection_command(command)

    def on_hci_le_extended_create_connection_command(
        self, command: hci.HCI_LE_Extended_Create_Connection_Command
    ) -> None:
        if self._slots_full():
            self._send_hci_command_status(hci.HCI_ErrorCode.CONNECTION_LIMIT_EXCEEDED_ERROR, command.op_code)
            return
        super().on_hci_le_extended_create_connection_command(command)

    def create_le_connection(self, peer_address: hci.Address) -> None:
        super().create_le_connection(peer_address)
        connection = self.le_connections.get(peer_address)
        if connection is not None:
            # The CONNECT_IND is delivered on the next loop turn; check after it whether the peer took it.
            asyncio.get_running_loop().call_soon(self._check_established, connection)

    def _check_established(self, connection: Connection) -> None:
        if self.le_connections.get(connection.peer_address) is not connection:
            return
        if far_end(connection) is None:
            # Another central won the advertisement (or it was stale): no link-layer answer, as on a radio.
            self.on_le_disconnected(connection, hci.HCI_ErrorCode.CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR)

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

    # -- losing links ---------------------------------------------------------------------------------------
    def on_hci_reset_command(self, command):
        # A reset drops every link, as real controllers do; peers see a supervision timeout.
        self.power_off()
        return super().on_hci_reset_command(command)

    def power_off(self) -> None:
        """Forget every link (peers see a supervision timeout), the pending connect and the scan."""
        for connection in list(self.le_connections.values()):
            self.drop(connection, hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR, notify_self=False)
        self.pending_le_connection = None
        self.le_scan_enable = False

    def drop(self, connection: Connection, reason: int, notify_self: bool = True) -> None:
        """End a link on both sides without a goodbye, like a supervision timeout."""
        peer = far_end(connection)
        if peer is not None:
            peer.controller.on_le_disconnected(peer, reason)
        if notify_self:
            self.on_le_disconnected(connection, reason)
        else:
            self.le_connections.pop(connection.peer_address, None)

    def drop_all(self, reason: int = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR) -> None:
        for connection in list(self.le_connections.values()):
            self.drop(connection, reason)


def _key(mac: str) -> bytes:
    return hci.Address(mac).address_bytes


def _mac(key: bytes) -> str:
    return hci.Address(key).to_string(False)
