{#-
    Ad performance per tenant × day × platform × campaign × ad group × ad: what each ad
    platform reported for the ad on its account-local day, in the account's currency and in the
    tenant's reporting currency. Reporting-currency amounts are exact conversions, not rounded:
    sum them at the grain you report, then round_money (half-even), as the sandbox's truth and
    the finance side do. Incremental by tenant (the marts' `tenant_delete_insert`).
-#}
select
    tenant_id,
    date_day,
    platform,
    account_id,
    account_name,
    campaign_id,
    campaign_name,
    ad_group_id,
    ad_group_name,
    ad_id,
    ad_name,
    currency_code,
    spend,
    impressions,
    clicks,
    conversions,
    conversions_value,
    reporting_currency,
    fx_rate_to_reporting_currency,
    spend_reporting,
    conversions_value_reporting
from {{ ref('int_ad_performance_daily') }}
order by tenant_id, date_day, platform, campaign_id, ad_group_id, ad_id
