-- BFCL-V3 VehicleControlAPI: one car (scalar state), its doors and tyres, and the static road
-- map its navigation helpers look up.
--
-- Numbers keep their Python type (BFCL compares result texts, where 30 and 30.0 differ), so
-- numeric columns are declared without a type. Integers beyond SQLite's 64-bit range are stored
-- as their decimal text and NaN as 'NaN' (vehicle.py encodes and decodes them); the original
-- stores whatever number it is given.

-- The car's scalar attributes: exactly one row.
CREATE TABLE vehicle (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    fuel_level NOT NULL
        CHECK (typeof(fuel_level) IN ('integer', 'real') OR fuel_level = 'NaN'
               OR (fuel_level <> '' AND trim(fuel_level, '-0123456789') = '')),
    battery_voltage NOT NULL
        CHECK (typeof(battery_voltage) IN ('integer', 'real') OR battery_voltage = 'NaN'
               OR (battery_voltage <> '' AND trim(battery_voltage, '-0123456789') = '')),
    engine_state TEXT NOT NULL CHECK (engine_state IN ('running', 'stopped')),
    ac_temperature NOT NULL
        CHECK (typeof(ac_temperature) IN ('integer', 'real') OR ac_temperature = 'NaN'
               OR (ac_temperature <> '' AND trim(ac_temperature, '-0123456789') = '')),
    fan_speed NOT NULL
        CHECK (typeof(fan_speed) IN ('integer', 'real') OR fan_speed = 'NaN'
               OR (fan_speed <> '' AND trim(fan_speed, '-0123456789') = '')),
    -- adjustClimateControl stores any mode it is given, so no enumeration is enforced.
    ac_mode TEXT NOT NULL CHECK (typeof(ac_mode) = 'text'),
    humidity_level NOT NULL
        CHECK (typeof(humidity_level) IN ('integer', 'real') OR humidity_level = 'NaN'
               OR (humidity_level <> '' AND trim(humidity_level, '-0123456789') = '')),
    headlight_status TEXT NOT NULL CHECK (headlight_status IN ('on', 'off')),
    parking_brake_status TEXT NOT NULL CHECK (parking_brake_status IN ('engaged', 'released')),
    -- Private in the original (not part of BFCL's state check), but shown by displayCarStatus.
    parking_brake_force NOT NULL
        CHECK (typeof(parking_brake_force) IN ('integer', 'real') OR parking_brake_force = 'NaN'
               OR (parking_brake_force <> '' AND trim(parking_brake_force, '-0123456789') = '')),
    slope_angle NOT NULL
        CHECK (typeof(slope_angle) IN ('integer', 'real') OR slope_angle = 'NaN'
               OR (slope_angle <> '' AND trim(slope_angle, '-0123456789') = '')),
    brake_pedal_status TEXT NOT NULL CHECK (brake_pedal_status IN ('pressed', 'released')),
    brake_pedal_force NOT NULL
        CHECK (typeof(brake_pedal_force) IN ('integer', 'real') OR brake_pedal_force = 'NaN'
               OR (brake_pedal_force <> '' AND trim(brake_pedal_force, '-0123456789') = '')),
    distance_to_next_vehicle NOT NULL
        CHECK (typeof(distance_to_next_vehicle) IN ('integer', 'real')
               OR distance_to_next_vehicle = 'NaN'
               OR (distance_to_next_vehicle <> ''
                   AND trim(distance_to_next_vehicle, '-0123456789') = '')),
    cruise_status TEXT NOT NULL CHECK (cruise_status IN ('active', 'inactive')),
    destination TEXT NOT NULL CHECK (typeof(destination) = 'text'),
    long_context INTEGER NOT NULL CHECK (long_context IN (0, 1)),
    -- The original's random.Random(seed); its state is the seed plus the number of draws.
    random_seed TEXT NOT NULL CHECK (json_valid(random_seed)),  -- JSON: int or str seeds
    random_draws INTEGER NOT NULL DEFAULT 0 CHECK (random_draws >= 0)
);

-- Doors in the original's dict order (`position`), which lists and error messages follow.
-- The number of unlocked doors is not stored: the original keeps it equal to
-- 4 - (number of locked doors) at all times.
CREATE TABLE doors (
    position INTEGER PRIMARY KEY,
    door TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('locked', 'unlocked'))
);

CREATE TABLE tires (
    tire TEXT PRIMARY KEY CHECK (tire IN ('front_left', 'front_right', 'rear_left', 'rear_right')),
    pressure NOT NULL
        CHECK (typeof(pressure) IN ('integer', 'real') OR pressure = 'NaN'
               OR (pressure <> '' AND trim(pressure, '-0123456789') = ''))
);

-- Static map of the navigation helpers: city names and their zip codes...
CREATE TABLE cities (
    name TEXT PRIMARY KEY,
    zipcode TEXT NOT NULL
);

-- ...and the known road distances between zip codes (km), one row per unordered pair.
CREATE TABLE routes (
    zip_a TEXT NOT NULL,
    zip_b TEXT NOT NULL,
    distance NOT NULL CHECK (typeof(distance) IN ('integer', 'real') AND distance >= 0),
    PRIMARY KEY (zip_a, zip_b),
    CHECK (zip_a < zip_b)
);
