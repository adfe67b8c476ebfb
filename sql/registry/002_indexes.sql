-- Indexes for the resolving query (mac -> connector -> pin -> template -> data points).
-- The MAC expression must stay identical to the one in src/registry/queries.ts so the
-- planner can use it: lowercase, without ':' or '-'.

CREATE INDEX IF NOT EXISTS "Device_MacNormalized_idx"
  ON "Device" (lower(replace(replace("MacAddress", ':', ''), '-', '')));
CREATE INDEX IF NOT EXISTS "Device_DeviceTemplateId_idx" ON "Device" ("DeviceTemplateId");
CREATE INDEX IF NOT EXISTS "DataPoint_DeviceTemplateId_idx" ON "DataPoint" ("DeviceTemplateId");
CREATE INDEX IF NOT EXISTS "Pin_DeviceId_idx" ON "Pin" ("DeviceId");

-- One connector per (controller, number) and one pin per (connector, position) is what
-- the resolution chain assumes. A registry from the field may already hold duplicates;
-- rather than refuse to adopt it, fall back to plain indexes there (the resolver then
-- picks the lowest id deterministically) and say so.
DO $$
BEGIN
  IF to_regclass('"Connector_Controller_Number_key"') IS NULL THEN
    IF EXISTS (SELECT 1 FROM "Connector" GROUP BY "ControllerId", "ConnectorNumber" HAVING count(*) > 1) THEN
      RAISE WARNING 'registry: duplicate (ControllerId, ConnectorNumber) rows; uniqueness not enforced';
      CREATE INDEX IF NOT EXISTS "Connector_Controller_Number_idx" ON "Connector" ("ControllerId", "ConnectorNumber");
    ELSE
      CREATE UNIQUE INDEX "Connector_Controller_Number_key" ON "Connector" ("ControllerId", "ConnectorNumber");
    END IF;
  END IF;
  IF to_regclass('"Pin_Connector_Position_key"') IS NULL THEN
    IF EXISTS (SELECT 1 FROM "Pin" GROUP BY "ConnectorId", "Position" HAVING count(*) > 1) THEN
      RAISE WARNING 'registry: duplicate (ConnectorId, Position) rows; uniqueness not enforced';
      CREATE INDEX IF NOT EXISTS "Pin_Connector_Position_idx" ON "Pin" ("ConnectorId", "Position");
    ELSE
      CREATE UNIQUE INDEX "Pin_Connector_Position_key" ON "Pin" ("ConnectorId", "Position");
    END IF;
  END IF;
END
$$;
