-- rev orders the saves of device summaries, so that a replica reads only
-- the summaries others saved since it last looked (DevicesSince). Saves
-- take an advisory lock before drawing from the sequence, so revs commit
-- in order and a reader never skips one still in flight.
CREATE SEQUENCE device_rev;
ALTER TABLE devices ADD COLUMN rev bigint NOT NULL DEFAULT 0;
CREATE INDEX devices_by_rev ON devices (rev);
