-- The failure forecast the SMS of a warning last carried (issue 22, item 8): a forecast that
-- moves materially earlier than it is sent again, judged against what people's phones hold,
-- not against the forecast last stored (which moves with every update). (0410–0419: the
-- warning skill's.)
ALTER TABLE warnings ADD COLUMN sms_forecast_at timestamptz;
