// Loaded first: records script errors in #ab-errors (shown) and #ab-status (read by the browser tests).
window.__abErrors = [];
function __abReport(msg){ window.__abErrors.push(String(msg));
  var box = document.getElementById('ab-errors');
  if (box) { box.style.display = 'block'; box.textContent = 'Report script error: ' + window.__abErrors.join(' | '); }
  var st = document.getElementById('ab-status'); if (st) st.setAttribute('data-errors', String(window.__abErrors.length)); }
window.addEventListener('error', function(ev){ __abReport(ev.message || 'error'); });
window.addEventListener('unhandledrejection', function(ev){ __abReport('promise: ' + (ev.reason && ev.reason.message || ev.reason)); });
