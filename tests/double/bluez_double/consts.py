"""Names, UUIDs and the errors bluetoothd 5.66 replies with.

Error names and texts follow BlueZ's src/error.c / src/error.h (5.62 added the
"br-connection-*" reason strings; the "not-suuported" typo was fixed for 5.64,
so 5.66 says "br-connection-not-supported").  gdbus' own Properties errors
follow gdbus/object.c.
"""

import dbus
import dbus.exceptions

BUS_NAME = 'org.bluez'
OM_IFACE = 'org.freedesktop.DBus.ObjectManager'
PROPS_IFACE = 'org.freedesktop.DBus.Properties'
INTROSPECT_IFACE = 'org.freedesktop.DBus.Introspectable'

AGENT_MANAGER_IFACE = 'org.bluez.AgentManager1'
PROFILE_MANAGER_IFACE = 'org.bluez.ProfileManager1'
AGENT_IFACE = 'org.bluez.Agent1'
ADAPTER_IFACE = 'org.bluez.Adapter1'
MEDIA_IFACE = 'org.bluez.Media1'
GATT_MANAGER_IFACE = 'org.bluez.GattManager1'
LE_ADV_MANAGER_IFACE = 'org.bluez.LEAdvertisingManager1'
DEVICE_IFACE = 'org.bluez.Device1'
MEDIA_CONTROL_IFACE = 'org.bluez.MediaControl1'
ENDPOINT_IFACE = 'org.bluez.MediaEndpoint1'
TRANSPORT_IFACE = 'org.bluez.MediaTransport1'
PLAYER_IFACE = 'org.mpris.MediaPlayer2.Player'

TEST_IFACE = 'org.a2dpsrc.Test.BlueZ1'
TEST_ERROR = 'org.a2dpsrc.Test.Error'


def uuid16(short):
    return '%08x-0000-1000-8000-00805f9b34fb' % short


HSP_HS_UUID = uuid16(0x1108)
A2DP_SOURCE_UUID = uuid16(0x110a)
A2DP_SINK_UUID = uuid16(0x110b)
AVRCP_TARGET_UUID = uuid16(0x110c)      # "A/V Remote Control Target"
ADVANCED_AUDIO_UUID = uuid16(0x110d)
AVRCP_REMOTE_UUID = uuid16(0x110e)      # "A/V Remote Control"
HSP_AG_UUID = uuid16(0x1112)
HFP_HF_UUID = uuid16(0x111e)
HFP_AG_UUID = uuid16(0x111f)
PNP_UUID = uuid16(0x1200)
GAP_UUID = uuid16(0x1800)
GATT_UUID = uuid16(0x1801)
DEVINFO_UUID = uuid16(0x180a)

# lib/uuid.c bt_name2string() names.
PROFILE_NAMES = {
    'pbap': uuid16(0x1130), 'sap': uuid16(0x112d), 'ftp': uuid16(0x1106),
    'spp': uuid16(0x1101), 'dun': uuid16(0x1103), 'hfp': uuid16(0x111e),
    'hsp': uuid16(0x1108), 'opp': uuid16(0x1105), 'mns': uuid16(0x1133),
}

# Realistic portable speaker (HSP/HFP headset side, A2DP sink, AVRCP both
# roles, Device ID record).
DEFAULT_SPEAKER_UUIDS = [HSP_HS_UUID, A2DP_SINK_UUID, AVRCP_TARGET_UUID,
                         AVRCP_REMOTE_UUID, HFP_HF_UUID, PNP_UUID]
# Major class audio/video, minor loudspeaker, service classes audio+rendering
DEFAULT_SPEAKER_CLASS = 0x240414

SBC_CODEC = 0x00


def normalize_uuid(text):
    """lib/uuid.c bt_name2string(): profile name, 16/32-bit or 128-bit UUID.
    Returns None for what BlueZ cannot parse."""
    if not isinstance(text, str):
        return None
    t = text.strip().lower()
    if t in PROFILE_NAMES:
        return PROFILE_NAMES[t]
    if t.startswith('0x'):
        t = t[2:]
    try:
        if len(t) in (4, 8):
            return '%08x-0000-1000-8000-00805f9b34fb' % int(t, 16)
        if len(t) == 36 and t.count('-') == 4:
            int(t.replace('-', ''), 16)
            return t
    except ValueError:
        return None
    return None


def bz_error(name, text):
    return dbus.exceptions.DBusException(text, name='org.bluez.Error.' + name)


# src/error.c -------------------------------------------------------------
def invalid_args():
    return bz_error('InvalidArguments', 'Invalid arguments in method call')


def busy():             # btd_error_busy()
    return bz_error('InProgress', 'Operation already in progress')


def in_progress(text='In Progress'):
    return bz_error('InProgress', text)


def already_exists():
    return bz_error('AlreadyExists', 'Already Exists')


def not_supported():
    return bz_error('NotSupported', 'Operation is not supported')


def not_connected():
    return bz_error('NotConnected', 'Not Connected')


def not_available(text='Operation currently not available'):
    return bz_error('NotAvailable', text)


def does_not_exist():
    return bz_error('DoesNotExist', 'Does Not Exist')


def not_authorized():
    return bz_error('NotAuthorized', 'Operation Not Authorized')


def not_ready(text='Resource Not Ready'):
    return bz_error('NotReady', text)


def failed(text):
    return bz_error('Failed', text)


# "br-connection-*" reasons (src/error.h) and the errno mapping of
# btd_error_bredr_conn_from_errno().
BR_ALREADY_CONNECTED = 'br-connection-already-connected'
BR_PAGE_TIMEOUT = 'br-connection-page-timeout'
BR_PROFILE_UNAVAILABLE = 'br-connection-profile-unavailable'
BR_SDP_SEARCH = 'br-connection-sdp-search'
BR_CREATE_SOCKET = 'br-connection-create-socket'          # EIO
BR_INVALID_ARGUMENTS = 'br-connection-invalid-argument'
BR_ADAPTER_NOT_POWERED = 'br-connection-adapter-not-powered'
BR_NOT_SUPPORTED = 'br-connection-not-supported'
BR_BUSY = 'br-connection-busy'
BR_TIMEOUT = 'br-connection-timeout'
BR_REFUSED = 'br-connection-refused'
BR_ABORT_BY_REMOTE = 'br-connection-aborted-by-remote'
BR_ABORT_BY_LOCAL = 'br-connection-aborted-by-local'
BR_CANCELED = 'br-connection-canceled'
BR_UNKNOWN = 'br-connection-unknown'

BR_REASONS = (BR_ALREADY_CONNECTED, BR_PAGE_TIMEOUT, BR_PROFILE_UNAVAILABLE,
              BR_SDP_SEARCH, BR_CREATE_SOCKET, BR_INVALID_ARGUMENTS,
              BR_ADAPTER_NOT_POWERED, BR_NOT_SUPPORTED, BR_BUSY, BR_TIMEOUT,
              BR_REFUSED, BR_ABORT_BY_REMOTE, BR_ABORT_BY_LOCAL, BR_CANCELED,
              BR_UNKNOWN, 'br-connection-bad-socket',
              'br-connection-memory-allocation',
              'br-connection-concurrent-connection-limit',
              'br-connection-lmp-protocol-error')

# the errno a connection attempt fails with -> the reason string device.c
# replies with (btd_error_bredr_conn_from_errno)
ERRNO_REASON = {
    'EHOSTDOWN': BR_PAGE_TIMEOUT, 'ENOPROTOOPT': BR_PROFILE_UNAVAILABLE,
    'EIO': BR_CREATE_SOCKET, 'EOPNOTSUPP': BR_NOT_SUPPORTED,
    'ECONNREFUSED': BR_REFUSED, 'ECONNRESET': BR_ABORT_BY_REMOTE,
    'ECONNABORTED': BR_ABORT_BY_LOCAL, 'ETIMEDOUT': BR_TIMEOUT,
    'EBUSY': BR_BUSY, 'EALREADY': BR_ALREADY_CONNECTED,
    'EHOSTUNREACH': BR_ADAPTER_NOT_POWERED, 'EINVAL':
    BR_INVALID_ARGUMENTS, 'EPERM': BR_UNKNOWN, 'ECANCELED': BR_CANCELED,
}
REASON_ERRNO = {v: k for k, v in ERRNO_REASON.items()}


def reason_error(errno):
    return failed(ERRNO_REASON.get(errno, BR_UNKNOWN))

# src/device.c new_authentication_return()
AUTH_ERRORS = {
    'failed': ('AuthenticationFailed', 'Authentication Failed'),
    'canceled': ('AuthenticationCanceled', 'Authentication Canceled'),
    'rejected': ('AuthenticationRejected', 'Authentication Rejected'),
    'timeout': ('AuthenticationTimeout', 'Authentication Timeout'),
    'page-timeout': ('ConnectionAttemptFailed', 'Page Timeout'),
    'already-paired': ('AlreadyExists', 'Already Paired'),
}


def auth_error(kind):
    name, text = AUTH_ERRORS[kind]
    return bz_error(name, text)


# gdbus/object.c -----------------------------------------------------------
def dbus_error(name, text):
    return dbus.exceptions.DBusException(
        text, name='org.freedesktop.DBus.Error.' + name)


def test_error(text, name='Failed'):
    return dbus.exceptions.DBusException(text, name=TEST_ERROR + '.' + name)
