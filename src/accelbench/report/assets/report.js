// Draws the charts from the #ab-figures JSON with plotly.js and makes the tables sortable by a click
// on a header; #ab-status records how many charts rendered (read by the browser tests).
(function(){
  var figs = JSON.parse(document.getElementById('ab-figures').textContent);
  var st = document.getElementById('ab-status');
  var done = 0;
  if (typeof Plotly === 'undefined') { __abReport('plotly.js did not load'); return; }
  Object.keys(figs).forEach(function(id){
    var el = document.getElementById('chart-' + id);
    if (!el) return;
    try {
      Plotly.newPlot(el, figs[id].data, figs[id].layout, {displaylogo:false, responsive:true,
        displayModeBar:false});
      done += 1;
    } catch (err) { __abReport('chart ' + id + ': ' + err.message); }
  });
  st.setAttribute('data-charts-rendered', String(done));
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('th').forEach(function(th, i){
      th.addEventListener('click', function(){
        var asc = th.getAttribute('data-dir') !== 'asc';
        table.querySelectorAll('th').forEach(function(h){ h.removeAttribute('data-dir'); });
        th.setAttribute('data-dir', asc ? 'asc' : 'desc');
        var tbody = table.tBodies[0], rows = Array.prototype.slice.call(tbody.rows);
        rows.sort(function(a, b){
          var x = a.cells[i].getAttribute('data-sort'), y = b.cells[i].getAttribute('data-sort');
          var nx = parseFloat(x), ny = parseFloat(y), c;
          if (!isNaN(nx) && !isNaN(ny)) c = nx - ny;
          else if (isNaN(nx) !== isNaN(ny)) return isNaN(nx) ? 1 : -1;  // blanks last
          else c = String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        var head = parseInt(table.getAttribute('data-head') || '0', 10);
        rows.forEach(function(r, k){
          tbody.appendChild(r);
          if (head) r.classList.toggle('more', k >= head);  // the fold keeps the top rows in view
        });
      });
    });
  });
  st.setAttribute('data-ready', '1');
})();
