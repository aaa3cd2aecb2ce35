//! Metric samples into the narrow `metrics` hypertable, committed before the caller is answered.

use chrono::Utc;

use super::{Result, Store};
use crate::event::{MetricSample, TenantId};
use crate::parse::ecs::truncate_to_micros;

impl Store {
    /// Stores `samples` for `tenant` in one transaction.
    pub async fn insert_samples(&self, tenant: &TenantId, samples: &[MetricSample]) -> Result<u64> {
        if samples.is_empty() {
            return Ok(0);
        }
        let times: Vec<_> = samples.iter().map(|s| s.time).collect();
        let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
        let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
        let labels: Vec<serde_json::Value> = samples
            .iter()
            .map(|s| serde_json::Value::Object(s.labels.clone()))
            .collect();
        let client = self.client().await?;
        let n = client
            .execute(
                "INSERT INTO metrics (recorded_at, tenant_id, time, name, value, labels) \
                 SELECT $1, $2, * FROM unnest($3::timestamptz[], $4::text[], $5::float8[], $6::jsonb[])",
                &[
                    &truncate_to_micros(Utc::now()),
                    &tenant.as_str(),
                    &times,
                    &names,
                    &values,
                    &labels,
                ],
            )
            .await?;
        Ok(n)
    }
}
