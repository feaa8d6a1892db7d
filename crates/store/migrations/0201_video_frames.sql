-- Camera frames at the command-center: the JPEG files live in the frame store on disk
-- (`[command_center.video] dir`); this is their index. Retention by age and by total size
-- deletes rows and files together.
CREATE TABLE video_frames (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gateway_code text NOT NULL,
    camera       text NOT NULL CHECK (camera ~ '^[A-Za-z0-9_.-]{1,64}$'),
    captured_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    bytes        integer NOT NULL CHECK (bytes > 0),
    -- Relative to the frame store's folder.
    path         text NOT NULL,
    -- A live-view frame (QoS 0) rather than a snapshot.
    live         boolean NOT NULL DEFAULT false,
    UNIQUE (gateway_code, camera, captured_at)
);
CREATE INDEX video_frames_camera_idx ON video_frames (gateway_code, camera, captured_at DESC);
CREATE INDEX video_frames_captured_idx ON video_frames (captured_at);
