-- A warning's one line in Chinese beside the English `summary`: duty officers and field staff
-- read the console, SMS and app in Chinese first. Empty for warnings written before it existed.
ALTER TABLE warnings ADD COLUMN summary_zh text NOT NULL DEFAULT '';
