{#-
    Attribution credits, one row per order × touchpoint × model (int_attribution_credits, from
    transform.attribution): the share of the order each eligible touchpoint of its journey gets
    under each model, and that share of the order's revenue (reporting currency, rounded per
    order, split exactly). An order without an eligible touch has one row per model with
    channel "(unattributed)", no touchpoint, credit 0. `is_default_model` marks the tenant's
    default model. Incremental by tenant; stored ordered by tenant and order day.
-#}
with credits as (

    select * from {{ ref('int_attribution_credits') }}
    where {{ tenant_filter_for(ref('int_attribution_credits')) }}

),

orders as (

    select tenant_id, source, order_id, order_date, reporting_currency
    from {{ ref('int_revenue__orders') }}
    where {{ tenant_filter_for(ref('int_revenue__orders')) }}

),

touchpoints as (

    select
        tenant_id,
        touchpoint_id,
        visit_position,
        touched_date,
        is_paid,
        is_direct,
        campaign_platform,
        campaign_name,
        utm_source,
        utm_medium,
        utm_campaign
    from {{ ref('int_touchpoints') }}
    where {{ tenant_filter_for(ref('int_touchpoints')) }}

),

tenants as (

    select tenant_id, attribution_model from {{ ref('stg_registry__tenants') }}

)

select
    credits.tenant_id,
    orders.order_date,
    credits.source,
    credits.order_id,
    credits.ordered_at,
    credits.attribution_model,
    credits.attribution_model = tenants.attribution_model as is_default_model,
    credits.touchpoint_id,
    touchpoints.visit_position,
    credits.touched_at,
    touchpoints.touched_date,
    credits.channel,
    credits.platform,
    touchpoints.is_paid,
    touchpoints.is_direct,
    touchpoints.campaign_platform,
    credits.campaign_id,
    touchpoints.campaign_name,
    touchpoints.utm_source,
    touchpoints.utm_medium,
    touchpoints.utm_campaign,
    credits.is_attributed,
    credits.credit,
    orders.reporting_currency,
    {{ to_money('credits.attributed_revenue') }} as attributed_revenue
from credits
inner join orders
    on orders.tenant_id = credits.tenant_id
    and orders.source = credits.source
    and orders.order_id = credits.order_id
left join touchpoints
    on touchpoints.tenant_id = credits.tenant_id
    and touchpoints.touchpoint_id = credits.touchpoint_id
left join tenants on tenants.tenant_id = credits.tenant_id
order by
    credits.tenant_id,
    orders.order_date,
    credits.source,
    credits.order_id,
    credits.attribution_model,
    touchpoints.visit_position
