-- Sample registry: the seed's init data plus one Modbus RTU energy meter, so that every
-- wired pin of the simulator's default fleet decodes. Idempotent by natural key (names,
-- normalised MAC, connector number, pin position): rows that already exist, e.g. in a
-- registry created by the seed, are left as they are.
--
-- Wiring (controller MAC / connector / pin -> sensor, template):
--   e4fd45f654be  J1  sensor-1  Living Room Env Sensor   Environmental Sensor  (6 bytes raw)
--   e4fd45f654be  J1  sensor-2  Main Energy Meter        Energy Meter          (modbus-rtu, 16 data bytes)
--   abc123def456  J2  sensor-2  Kitchen Power Monitor    Power Monitor         (4 bytes raw)
--   123456abcdef  J4  sensor-3  Bedroom Env Sensor       Environmental Sensor  (6 bytes raw)
--
-- Data point offsets are byte offsets into the sensor's data bytes. For DataEncoding
-- 'modbus-rtu' the payload is a read-holding-registers reply (address, function 0x03,
-- byte count, data, CRC-16 little-endian) and offsets count from the first data byte.

INSERT INTO "DeviceType" ("Name")
SELECT v.name
FROM (VALUES ('Controller'), ('Sensor'), ('Power Monitor'), ('Energy Meter')) AS v (name)
WHERE NOT EXISTS (SELECT 1 FROM "DeviceType" t WHERE t."Name" = v.name);

INSERT INTO "DataPointIcon" ("IconName")
SELECT v.name
FROM (VALUES ('thermometer'), ('droplet'), ('cloud'), ('bolt'), ('gauge')) AS v (name)
WHERE NOT EXISTS (SELECT 1 FROM "DataPointIcon" i WHERE i."IconName" = v.name);

INSERT INTO "DeviceTemplate" ("Name", "Model", "Description", "DeviceTypeId")
SELECT v.name, v.model, v.description,
       (SELECT min(t."DeviceTypeId") FROM "DeviceType" t WHERE t."Name" = v.type)
FROM (VALUES
  ('F2 Controller', 'F2', 'F2 Smart Controller', 'Controller'),
  ('Environmental Sensor', 'ENV-485', 'Temperature, humidity and CO2 over RS-485', 'Sensor'),
  ('Power Monitor', 'PM-485', 'Mains voltage and current over RS-485', 'Power Monitor'),
  ('Energy Meter', 'EM-485', 'Modbus RTU energy meter: IEEE 754 floats and a 32-bit energy counter', 'Energy Meter')
) AS v (name, model, description, type)
WHERE NOT EXISTS (SELECT 1 FROM "DeviceTemplate" d WHERE d."Name" = v.name);

INSERT INTO "DataPoint" ("DeviceTemplateId", "Label", "DataPointIconId", "DataFormat", "DataEncoding",
                         "Offset", "Length", "Prepend", "Append", "WholeNumber", "Decimals",
                         "RealTimeChart", "HistoricalChart")
SELECT (SELECT min(t."DeviceTemplateId") FROM "DeviceTemplate" t WHERE t."Name" = v.template),
       v.label,
       (SELECT min(i."DataPointIconId") FROM "DataPointIcon" i WHERE i."IconName" = v.icon),
       v.format, v.encoding, v."offset", v.length, NULL, v.append, v.whole, v.decimals, true, true
FROM (VALUES
  ('Environmental Sensor', 'Temperature', 'thermometer', 'Int16', NULL, 0, 2, ' °C', false, 2),
  ('Environmental Sensor', 'Humidity', 'droplet', 'Uint16', NULL, 2, 2, ' %', false, 2),
  ('Environmental Sensor', 'CO2', 'cloud', 'Uint16', NULL, 4, 2, ' ppm', true, 0),
  ('Power Monitor', 'Voltage', 'bolt', 'Uint16', NULL, 0, 2, ' V', false, 1),
  ('Power Monitor', 'Current', 'bolt', 'Int16', NULL, 2, 2, ' A', false, 3),
  ('Energy Meter', 'Voltage', 'bolt', 'Float32', 'modbus-rtu', 0, 4, ' V', false, NULL),
  ('Energy Meter', 'Current', 'bolt', 'Float32', 'modbus-rtu', 4, 4, ' A', false, NULL),
  ('Energy Meter', 'Active Power', 'gauge', 'Float32', 'modbus-rtu', 8, 4, ' W', false, NULL),
  ('Energy Meter', 'Energy', 'gauge', 'Uint32', 'modbus-rtu', 12, 4, ' kWh', false, 2)
) AS v (template, label, icon, format, encoding, "offset", length, append, whole, decimals)
WHERE NOT EXISTS (
  SELECT 1 FROM "DataPoint" d JOIN "DeviceTemplate" t ON t."DeviceTemplateId" = d."DeviceTemplateId"
  WHERE t."Name" = v.template AND d."Label" = v.label
);

INSERT INTO "Device" ("DeviceName", "DeviceTemplateId", "ClaimingCode", "SerialNumber", "MacAddress", "PcbVersion")
SELECT v.name,
       (SELECT min(t."DeviceTemplateId") FROM "DeviceTemplate" t WHERE t."Name" = v.template),
       v.claiming_code, v.serial, v.mac, v.pcb
FROM (VALUES
  ('F2 Controller 1', 'F2 Controller', 'CLAIM-0001', 'F2-000001', 'e4fd45f654be', '1.2'),
  ('F2 Controller 2', 'F2 Controller', 'CLAIM-0002', 'F2-000002', 'abc123def456', '1.2'),
  ('F2 Controller 3', 'F2 Controller', 'CLAIM-0003', 'F2-000003', '123456abcdef', '1.2')
) AS v (name, template, claiming_code, serial, mac, pcb)
WHERE NOT EXISTS (
  SELECT 1 FROM "Device" d WHERE lower(replace(replace(d."MacAddress", ':', ''), '-', '')) = v.mac
);

INSERT INTO "Device" ("DeviceName", "DeviceTemplateId", "SerialNumber")
SELECT v.name, (SELECT min(t."DeviceTemplateId") FROM "DeviceTemplate" t WHERE t."Name" = v.template), v.serial
FROM (VALUES
  ('Living Room Env Sensor', 'Environmental Sensor', 'ENV-000001'),
  ('Kitchen Power Monitor', 'Power Monitor', 'PM-000001'),
  ('Bedroom Env Sensor', 'Environmental Sensor', 'ENV-000002'),
  ('Main Energy Meter', 'Energy Meter', 'EM-000001')
) AS v (name, template, serial)
WHERE NOT EXISTS (SELECT 1 FROM "Device" d WHERE d."DeviceName" = v.name);

INSERT INTO "Connector" ("ControllerId", "ConnectorNumber")
SELECT c.id, v.number
FROM (VALUES ('e4fd45f654be', 1), ('abc123def456', 2), ('123456abcdef', 4)) AS v (mac, number)
CROSS JOIN LATERAL (
  SELECT min(d."DeviceId") AS id FROM "Device" d
  WHERE lower(replace(replace(d."MacAddress", ':', ''), '-', '')) = v.mac
) AS c
WHERE NOT EXISTS (SELECT 1 FROM "Connector" x WHERE x."ControllerId" = c.id AND x."ConnectorNumber" = v.number);

INSERT INTO "Pin" ("ConnectorId", "Position", "DeviceId")
SELECT cn.id, v.position, (SELECT min(s."DeviceId") FROM "Device" s WHERE s."DeviceName" = v.sensor)
FROM (VALUES
  ('e4fd45f654be', 1, 1, 'Living Room Env Sensor'),
  ('e4fd45f654be', 1, 2, 'Main Energy Meter'),
  ('abc123def456', 2, 2, 'Kitchen Power Monitor'),
  ('123456abcdef', 4, 3, 'Bedroom Env Sensor')
) AS v (mac, number, position, sensor)
CROSS JOIN LATERAL (
  SELECT min(x."ConnectorId") AS id
  FROM "Connector" x JOIN "Device" d ON d."DeviceId" = x."ControllerId"
  WHERE lower(replace(replace(d."MacAddress", ':', ''), '-', '')) = v.mac AND x."ConnectorNumber" = v.number
) AS cn
WHERE NOT EXISTS (SELECT 1 FROM "Pin" p WHERE p."ConnectorId" = cn.id AND p."Position" = v.position);
