with campaigns as (

    {{ union_tenant_sources('google_ads', 'campaigns', {
        'customer_id': 'bigint',
        'campaign_id': 'bigint',
        'campaign_name': 'varchar',
        'campaign_status': 'varchar',
        'advertising_channel_type': 'varchar',
        'start_date': 'varchar',
        'budget_amount_micros': 'bigint',
    }) }}

),

customers as (

    {{ union_tenant_sources('google_ads', 'customer', {
        'customer_id': 'bigint',
        'currency_code': 'varchar',
    }) }}

)

select
    campaigns.tenant_id,
    campaigns.customer_id,
    campaigns.campaign_id,
    campaigns.campaign_name,
    campaigns.campaign_status,
    campaigns.advertising_channel_type,
    cast(campaigns.start_date as date) as start_date,
    upper(customers.currency_code) as currency_code,
    {{ micros_to_money('campaigns.budget_amount_micros') }} as budget_amount
from campaigns
left join customers
    on customers.tenant_id = campaigns.tenant_id
    and customers.customer_id = campaigns.customer_id
