// Progressive enhancement only: counts down the resend cooldown and re-enables the button.
// Every page works without it. The ticking number is not a live region (a screen reader would read it out
// every second); one polite status message says when a new code can be asked for.
document.querySelectorAll('button[data-cooldown]').forEach((button) => {
  let left = Number(button.getAttribute('data-cooldown')) || 0;
  const label = button.parentElement && button.parentElement.querySelector('.cooldown-seconds');
  const hint = button.parentElement && button.parentElement.querySelector('.cooldown');
  if (left <= 0) return;
  if (hint) hint.setAttribute('aria-live', 'off');
  // The status region exists (empty) from the start: text put into a region that is already there is announced.
  const status = document.createElement('p');
  status.className = 'sr-only';
  status.setAttribute('role', 'status');
  button.insertAdjacentElement('afterend', status);
  const timer = setInterval(() => {
    left -= 1;
    if (label) label.textContent = String(left);
    if (left <= 0) {
      clearInterval(timer);
      button.disabled = false;
      if (hint) hint.remove();
      status.textContent = button.getAttribute('data-ready') || 'You can ask for a new code now.';
    }
  }, 1000);
});

// The recovery codes page's Print button (hidden work for the CSP: no inline handlers).
document.querySelectorAll('button[data-print]').forEach((button) => {
  button.addEventListener('click', () => window.print());
});

// After a form comes back with errors (all shown at once, each next to its field), focus the first one.
const firstInvalid = document.querySelector('[aria-invalid="true"]');
if (firstInvalid) firstInvalid.focus();

// The recovery codes page's Copy button (the codes are also on the page and in the download).
document.querySelectorAll('button[data-copy]').forEach((button) => {
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(button.getAttribute('data-copy') || '');
      button.textContent = button.getAttribute('data-copied') || 'Copied';
    } catch {
      button.textContent = button.getAttribute('data-copy-failed') || 'Select and copy the codes above';
    }
  });
});
