-- The universal-type endpoint (its MQTT client id) a device last connected through; NULL for a
-- gateway that talks to our broker itself. The endpoint answers a command to one of its devices
-- that is not connected at once with an error, and ignores commands to every other gateway.
ALTER TABLE gateways ADD COLUMN universal_endpoint text;
