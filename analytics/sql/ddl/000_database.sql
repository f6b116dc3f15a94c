-- Eddy analytics schema, version 1. Placeholders: {db} (database), {ttl_days} (retention).
CREATE DATABASE IF NOT EXISTS {db};
