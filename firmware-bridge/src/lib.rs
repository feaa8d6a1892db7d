//! Firmware bridge: runs on a field gateway; Modbus polling, camera capture, store-and-forward to MQTT.
