-- Records are the package's binary encodings (codec.go), the same bytes a
-- bbolt file holds: one format, decoded in one place. Columns beside them
-- are what queries select and order by.
CREATE TABLE devices (
	mac   bytea PRIMARY KEY,
	value bytea NOT NULL
);

-- at_ns is the check-in's time in Unix nanoseconds (clamped as timeKey
-- clamps); seq keeps check-ins with one time in the order they were saved.
CREATE TABLE checkins (
	mac   bytea  NOT NULL,
	at_ns bigint NOT NULL,
	seq   bigserial,
	value bytea  NOT NULL,
	PRIMARY KEY (mac, at_ns, seq)
);

CREATE TABLE halts (
	platform text  NOT NULL,
	version  text  NOT NULL,
	value    bytea NOT NULL,
	PRIMARY KEY (platform, version)
);

CREATE TABLE adoption (
	platform text PRIMARY KEY,
	value    bytea NOT NULL
);
