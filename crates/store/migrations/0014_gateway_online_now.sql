-- Whether a gateway counts as online now, for every screen that shows it: its link says so (its
-- status, or its last will) AND it has been heard from within three of its expected intervals
-- (the longest sampling interval of its active sensors; 10 minutes without sensors). A gateway
-- that stops without a last will, or a universal-type logger that disconnects cleanly after each
-- upload, goes offline when it falls silent, as a silent sensor does.
CREATE FUNCTION gateway_online_now(gateway_id bigint, link_online boolean, last_seen_at timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT link_online AND last_seen_at IS NOT NULL
       AND last_seen_at >= now() - 3 * make_interval(secs => coalesce(
               (SELECT max(s.sampling_interval_s) FROM sensors s
                WHERE s.gateway_id = gateway_online_now.gateway_id AND s.active),
               600))
$$;
