// Words of the pages in zh-CN (the default) and English; the choice is kept
// in sessionStorage. Elements with data-i18n get their text from here.
const WORDS = {
  'zh-CN': {
    sign_out: '退出', expired: '已超时', loading: '加载中…', yes: '是', no: '否',
    'login.title': '登录', 'login.paste': '粘贴令牌', 'login.token': '令牌', 'login.submit': '登录',
    'login.exchanging': '正在用登录链接登录…', 'login.bad_token': '这不是有效的令牌',
    'login.link_failed': '登录链接无效或已过期，请向调度台索取新链接',
    'err.network': '网络不可用，稍后重试', 'err.unauthenticated': '登录已失效，请重新登录',
    'err.forbidden': '此角色无权执行该操作', 'err.no_api': '未配置接口：{service}',
    'code.state_conflict': '订单当前状态不允许此操作', 'code.not_found': '找不到', 'code.bad_request': '请求无效',
    'code.wrong_handover_code': '交接码错误', 'code.too_many_wrong_codes': '错误次数过多，交付已锁定',
    'code.not_at_pharmacy': '您不在药店附近', 'code.rate_limited': '请求太频繁，请稍候',
    'code.unavailable': '服务暂不可用，请重试', 'code.holds_orders': '仍有订单未完成',
    'pharmacy.title': '药店工作台', 'pharmacy.inbox': '待接订单', 'pharmacy.none': '暂无新订单',
    'pharmacy.open': '营业', 'pharmacy.close': '暂停营业', 'pharmacy.is_open': '营业中', 'pharmacy.is_closed': '已暂停',
    'pharmacy.status_unknown': '营业状态：未知（请选择）',
    'pharmacy.accept': '接单', 'pharmacy.reject': '拒单', 'pharmacy.reason': '拒单原因',
    'pharmacy.ready': '已备好', 'pharmacy.collected': '已取走', 'pharmacy.returned': '已退回',
    'pharmacy.accept_by': '接单剩余', 'pharmacy.items': '药品', 'pharmacy.distance': '配送距离',
    'pharmacy.held': '本店订单', 'pharmacy.held_none': '暂无', 'pharmacy.order_id': '订单号',
    'pharmacy.act_on': '按订单号操作', 'pharmacy.stock': '库存上传', 'pharmacy.stock_file': 'CSV 文件（药品编码,数量）',
    'pharmacy.stock_send': '上传库存', 'pharmacy.stock_ok': '库存已更新：{n} 种药品',
    'pharmacy.stock_rejected': '被拒绝的行', 'pharmacy.stock_none': '文件中没有有效行',
    'pharmacy.accepted': '已接单 {id}', 'pharmacy.rejected': '已拒单 {id}', 'pharmacy.done': '{id}：{state}',
    'pharmacy.new_offer': '新订单！', 'pharmacy.cold': '冷链', 'pharmacy.priority': '优先级',
    'csv.columns': '需要“药品编码,数量”两列', 'csv.code': '药品编码须为 1-64 个字母、数字或 . _ : -',
    'csv.quantity': '数量须为 0-1000000 的整数', 'csv.repeated': '药品编码重复', 'csv.too_many': '超过 2000 种药品',
    'reason.out_of_stock': '缺货', 'reason.cannot_verify': '无法核验处方', 'reason.closing': '即将打烊',
    'reason.no_cold_storage': '无冷藏条件', 'reason.busy': '太忙', 'reason.other': '其他',
    'fulfil.HOME_DELIVERY': '送药上门', 'fulfil.PICKUP_IN_STORE': '到店自取',
    'courier.title': '骑手', 'courier.available': '接单中', 'courier.unavailable': '休息中',
    'courier.go_on': '开始接单', 'courier.go_off': '停止接单', 'courier.cold_box': '有冷藏箱', 'courier.capacity': '同时配送单数',
    'courier.position': '位置', 'courier.no_geo': '浏览器不支持定位', 'courier.geo_denied': '未获得定位权限',
    'courier.buffered': '待发送 {n} 个位置', 'courier.sent': '位置已发送 {time}', 'courier.waiting_fix': '等待定位…',
    'courier.assignment': '当前任务', 'courier.none': '暂无任务', 'courier.pharmacy': '取药点', 'courier.dropoff': '送达点',
    'courier.address': '地址', 'courier.accept': '接受', 'courier.decline': '拒绝', 'courier.pickup': '已取药',
    'courier.code': '交接码', 'courier.deliver': '确认送达', 'courier.fail': '无法送达', 'courier.fail_reason': '原因',
    'courier.accept_by': '接受剩余', 'courier.open_map': '在地图应用中打开', 'courier.amap': '高德地图',
    'courier.returning': '请将药品送回药店', 'courier.delivered': '已送达 {id}', 'courier.state': '状态',
    'fail.not_home': '收件人不在', 'fail.unreachable': '联系不上收件人', 'fail.refused': '收件人拒收',
    'fail.address': '地址错误', 'fail.damaged': '药品损坏',
    'map.title': '实时地图', 'map.open': '营业', 'map.closed': '暂停', 'map.pos_age': '位置',
    'map.pharmacy-open': '营业药店', 'map.pharmacy-closed': '暂停药店', 'map.courier-available': '空闲骑手',
    'map.courier-busy': '配送中骑手', 'map.courier-benched': '停派骑手',
    'map.state-ROUTING': '派单中', 'map.state-OFFERED': '待接单', 'map.state-ACCEPTED': '备药中',
    'map.state-READY': '待取货', 'map.state-COURIER_ASSIGNED': '骑手前往', 'map.state-PICKED_UP': '配送中',
    'map.state-RETURNING': '退回中',
    'console.title': '调度台', 'console.exceptions': '异常处理', 'console.none': '没有待处理的异常',
    'console.search': '订单查询', 'console.state': '状态', 'console.pharmacy': '药店', 'console.courier': '骑手',
    'console.prescription': '处方号', 'console.find': '查询', 'console.results': '结果', 'console.no_results': '没有匹配的订单',
    'console.at': '时间', 'console.kind': '类型', 'console.reason': '原因', 'console.actions': '操作', 'console.order': '订单',
    'console.any_state': '全部进行中', 'console.since': '进入状态于', 'console.created': '创建于',
    'console.timeline': '时间线', 'console.fulfilment': '履约方式', 'console.attempt': '尝试次数', 'console.actor': '操作人', 'console.back': '返回',
    'console.act_reason': '操作原因（必填）', 'console.act_courier': '指定骑手（可选）', 'console.act_pharmacy': '指定药店（可选）',
    'console.identity_checked': '已核实收件人身份', 'console.submit': '执行', 'console.cancel_form': '取消',
    'console.done': '{action}：{id} 现为 {state}', 'console.total': '共 {n} 条', 'console.refresh': '刷新',
    'action.reassign': '改派', 'action.reroute': '换药店', 'action.retry': '重试', 'action.cancel': '取消订单',
    'action.resend-code': '重发交接码', 'action.unlock': '解锁',
  },
  en: {
    sign_out: 'Sign out', expired: 'expired', loading: 'Loading…', yes: 'yes', no: 'no',
    'login.title': 'Sign in', 'login.paste': 'Paste a token', 'login.token': 'Token', 'login.submit': 'Sign in',
    'login.exchanging': 'Signing in with the login link…', 'login.bad_token': 'This is not a valid token',
    'login.link_failed': 'The login link is invalid or expired: ask the desk for a new one',
    'err.network': 'The network is down: try again shortly', 'err.unauthenticated': 'Your sign-in has expired: sign in again',
    'err.forbidden': 'Not allowed for this role', 'err.no_api': 'No API configured: {service}',
    'code.state_conflict': 'Not allowed in the order\'s current state', 'code.not_found': 'Not found', 'code.bad_request': 'Invalid request',
    'code.wrong_handover_code': 'Wrong handover code', 'code.too_many_wrong_codes': 'Too many wrong codes: delivery is locked',
    'code.not_at_pharmacy': 'You are not at the pharmacy', 'code.rate_limited': 'Too many requests: wait a moment',
    'code.unavailable': 'Service unavailable: retry', 'code.holds_orders': 'Orders are still open',
    'pharmacy.title': 'Pharmacy workbench', 'pharmacy.inbox': 'Offers', 'pharmacy.none': 'No offers',
    'pharmacy.open': 'Open', 'pharmacy.close': 'Close', 'pharmacy.is_open': 'Open', 'pharmacy.is_closed': 'Closed',
    'pharmacy.status_unknown': 'Status: unknown (choose one)',
    'pharmacy.accept': 'Accept', 'pharmacy.reject': 'Reject', 'pharmacy.reason': 'Reason',
    'pharmacy.ready': 'Ready', 'pharmacy.collected': 'Collected', 'pharmacy.returned': 'Returned',
    'pharmacy.accept_by': 'Time to accept', 'pharmacy.items': 'Items', 'pharmacy.distance': 'Distance',
    'pharmacy.held': 'Our orders', 'pharmacy.held_none': 'None', 'pharmacy.order_id': 'Order id',
    'pharmacy.act_on': 'Act on an order id', 'pharmacy.stock': 'Stock upload', 'pharmacy.stock_file': 'CSV file (drug code,quantity)',
    'pharmacy.stock_send': 'Upload stock', 'pharmacy.stock_ok': 'Stock updated: {n} drugs',
    'pharmacy.stock_rejected': 'Rows rejected', 'pharmacy.stock_none': 'No valid rows in the file',
    'pharmacy.accepted': 'Accepted {id}', 'pharmacy.rejected': 'Rejected {id}', 'pharmacy.done': '{id}: {state}',
    'pharmacy.new_offer': 'New offer!', 'pharmacy.cold': 'cold chain', 'pharmacy.priority': 'Priority',
    'csv.columns': 'needs two columns: drug_code,quantity', 'csv.code': 'the drug code must be 1-64 of A-Z a-z 0-9 . _ : -',
    'csv.quantity': 'the quantity must be a whole number 0-1000000', 'csv.repeated': 'drug code repeated', 'csv.too_many': 'more than 2000 drugs',
    'reason.out_of_stock': 'Out of stock', 'reason.cannot_verify': 'Cannot verify the prescription', 'reason.closing': 'Closing soon',
    'reason.no_cold_storage': 'No cold storage', 'reason.busy': 'Too busy', 'reason.other': 'Other',
    'fulfil.HOME_DELIVERY': 'Home delivery', 'fulfil.PICKUP_IN_STORE': 'Pickup in store',
    'courier.title': 'Courier', 'courier.available': 'Available', 'courier.unavailable': 'Off duty',
    'courier.go_on': 'Go available', 'courier.go_off': 'Go off duty', 'courier.cold_box': 'I have a cold box', 'courier.capacity': 'Orders at once',
    'courier.position': 'Position', 'courier.no_geo': 'This browser has no geolocation', 'courier.geo_denied': 'Location permission denied',
    'courier.buffered': '{n} positions waiting to be sent', 'courier.sent': 'Position sent {time}', 'courier.waiting_fix': 'Waiting for a fix…',
    'courier.assignment': 'Current assignment', 'courier.none': 'No assignment', 'courier.pharmacy': 'Pharmacy', 'courier.dropoff': 'Drop-off',
    'courier.address': 'Address', 'courier.accept': 'Accept', 'courier.decline': 'Decline', 'courier.pickup': 'Picked up',
    'courier.code': 'Handover code', 'courier.deliver': 'Deliver', 'courier.fail': 'Cannot deliver', 'courier.fail_reason': 'Reason',
    'courier.accept_by': 'Time to accept', 'courier.open_map': 'Open in map app', 'courier.amap': 'Amap',
    'courier.returning': 'Bring the order back to the pharmacy', 'courier.delivered': 'Delivered {id}', 'courier.state': 'State',
    'fail.not_home': 'Recipient not home', 'fail.unreachable': 'Recipient unreachable', 'fail.refused': 'Recipient refused',
    'fail.address': 'Wrong address', 'fail.damaged': 'Goods damaged',
    'map.title': 'Live map', 'map.open': 'open', 'map.closed': 'closed', 'map.pos_age': 'position',
    'map.pharmacy-open': 'Pharmacies open', 'map.pharmacy-closed': 'closed', 'map.courier-available': 'Couriers free',
    'map.courier-busy': 'busy', 'map.courier-benched': 'benched',
    'map.state-ROUTING': 'Routing', 'map.state-OFFERED': 'Offered', 'map.state-ACCEPTED': 'Accepted',
    'map.state-READY': 'Ready', 'map.state-COURIER_ASSIGNED': 'Courier on the way', 'map.state-PICKED_UP': 'Picked up',
    'map.state-RETURNING': 'Returning',
    'console.title': 'Dispatch console', 'console.exceptions': 'Exception desk', 'console.none': 'No open exceptions',
    'console.search': 'Order search', 'console.state': 'State', 'console.pharmacy': 'Pharmacy', 'console.courier': 'Courier',
    'console.prescription': 'Prescription', 'console.find': 'Search', 'console.results': 'Results', 'console.no_results': 'No matching orders',
    'console.at': 'At', 'console.kind': 'Kind', 'console.reason': 'Reason', 'console.actions': 'Actions', 'console.order': 'Order',
    'console.any_state': 'Any live state', 'console.since': 'In state since', 'console.created': 'Created',
    'console.timeline': 'Timeline', 'console.fulfilment': 'Fulfilment', 'console.attempt': 'Attempt', 'console.actor': 'Actor', 'console.back': 'Back',
    'console.act_reason': 'Reason (required)', 'console.act_courier': 'Courier id (optional)', 'console.act_pharmacy': 'Pharmacy id (optional)',
    'console.identity_checked': 'Recipient identity checked', 'console.submit': 'Do it', 'console.cancel_form': 'Cancel',
    'console.done': '{action}: {id} is now {state}', 'console.total': '{n} in all', 'console.refresh': 'Refresh',
    'action.reassign': 'Reassign', 'action.reroute': 'Reroute', 'action.retry': 'Retry', 'action.cancel': 'Cancel order',
    'action.resend-code': 'Resend code', 'action.unlock': 'Unlock',
  },
};

const KEY = 'rxd.lang';

export function lang() {
  const l = sessionStorage.getItem(KEY);
  return l && WORDS[l] ? l : 'zh-CN';
}

export function setLang(l) {
  sessionStorage.setItem(KEY, WORDS[l] ? l : 'zh-CN');
  document.documentElement.lang = lang();
}

// t('key', {var}) in the current language; fallback when the key is unknown
// (the key itself unless given).
export function t(key, vars = {}, fallback) {
  let s = WORDS[lang()][key];
  if (s === undefined) s = WORDS.en[key];
  if (s === undefined) return fallback === undefined ? key : fallback;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

export function applyI18n(root = document) {
  document.documentElement.lang = lang();
  for (const e of root.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
}
