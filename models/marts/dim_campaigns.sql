{#-
    One row per tenant × platform × campaign: every campaign the ad platforms list, plus any
    campaign that delivered but is no longer listed, with its names, account, currency and the
    first and last day it delivered (impressions or spend) in the loaded data. LinkedIn
    campaigns carry their campaign group. Incremental by tenant.
-#}
with listed as (

    select
        campaigns.tenant_id,
        'google_ads' as platform,
        cast(campaigns.campaign_id as varchar) as campaign_id,
        campaigns.campaign_name,
        campaigns.campaign_status,
        cast(campaigns.customer_id as varchar) as account_id,
        customers.customer_name as account_name,
        coalesce(campaigns.currency_code, customers.currency_code) as currency_code,
        cast(null as varchar) as campaign_group_id,
        cast(null as varchar) as campaign_group_name
    from {{ ref('stg_google_ads__campaigns') }} as campaigns
    left join {{ ref('stg_google_ads__customers') }} as customers
        on customers.tenant_id = campaigns.tenant_id
        and customers.customer_id = campaigns.customer_id

    union all

    select
        campaigns.tenant_id,
        'meta_ads' as platform,
        cast(campaigns.campaign_id as varchar) as campaign_id,
        campaigns.campaign_name,
        campaigns.effective_status as campaign_status,
        cast(campaigns.account_id as varchar) as account_id,
        accounts.account_name,
        coalesce(campaigns.currency_code, accounts.currency_code) as currency_code,
        cast(null as varchar) as campaign_group_id,
        cast(null as varchar) as campaign_group_name
    from {{ ref('stg_meta_ads__campaigns') }} as campaigns
    left join {{ ref('stg_meta_ads__accounts') }} as accounts
        on accounts.tenant_id = campaigns.tenant_id
        and accounts.account_id = campaigns.account_id

    union all

    select
        campaigns.tenant_id,
        'linkedin_ads' as platform,
        cast(campaigns.campaign_id as varchar) as campaign_id,
        campaigns.campaign_name,
        campaigns.status as campaign_status,
        cast(campaigns.account_id as varchar) as account_id,
        accounts.account_name,
        coalesce(accounts.currency_code, campaigns.currency_code) as currency_code,
        cast(campaigns.campaign_group_id as varchar) as campaign_group_id,
        campaign_groups.campaign_group_name
    from {{ ref('stg_linkedin_ads__campaigns') }} as campaigns
    left join {{ ref('stg_linkedin_ads__accounts') }} as accounts
        on accounts.tenant_id = campaigns.tenant_id
        and accounts.account_id = campaigns.account_id
    left join {{ ref('stg_linkedin_ads__campaign_groups') }} as campaign_groups
        on campaign_groups.tenant_id = campaigns.tenant_id
        and campaign_groups.campaign_group_id = campaigns.campaign_group_id

),

delivered as (

    select
        tenant_id,
        platform,
        campaign_id,
        any_value(campaign_name) as campaign_name,
        any_value(account_id) as account_id,
        any_value(account_name) as account_name,
        any_value(currency_code) as currency_code,
        min(date_day) as first_active_date,
        max(date_day) as last_active_date
    from {{ ref('int_ad_performance_daily') }}
    where impressions > 0 or spend > 0
    group by tenant_id, platform, campaign_id

)

select
    coalesce(listed.tenant_id, delivered.tenant_id) as tenant_id,
    coalesce(listed.platform, delivered.platform) as platform,
    coalesce(listed.campaign_id, delivered.campaign_id) as campaign_id,
    coalesce(listed.campaign_name, delivered.campaign_name) as campaign_name,
    listed.campaign_status,
    coalesce(listed.account_id, delivered.account_id) as account_id,
    coalesce(listed.account_name, delivered.account_name) as account_name,
    coalesce(listed.currency_code, delivered.currency_code) as currency_code,
    listed.campaign_group_id,
    listed.campaign_group_name,
    listed.tenant_id is not null as is_listed,
    delivered.first_active_date,
    delivered.last_active_date
from listed
full outer join delivered
    on delivered.tenant_id = listed.tenant_id
    and delivered.platform = listed.platform
    and delivered.campaign_id = listed.campaign_id
order by tenant_id, platform, campaign_id
