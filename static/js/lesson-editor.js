// 课程管理: the lesson body is written in a rich-text editor (Jodit, from npm, copied to
// /static/vendor by make) whose toolbar offers exactly the formatting the server keeps
// (core.study.ALLOWED_TAGS): paragraphs, headings, quotes, bold, italic, lists, links and
// tables. The editor writes into the form's textarea, so 保存 and 预览 send its HTML.
(function () {
  "use strict";
  var area = document.getElementById("f-body");
  if (!area || !window.Jodit) return; // without the editor the textarea still takes HTML
  var Jodit = window.Jodit;
  Jodit.make(area, {
    language: "zh_cn",
    height: 420,
    minHeight: 240,
    toolbarAdaptive: false,
    toolbarSticky: false,
    showCharsCounter: false,
    showWordsCounter: false,
    showXPathInStatusbar: false,
    buttons: [
      "paragraph", "bold", "italic", "|", "ul", "ol", "|", "link", "table", "|",
      "eraser", "undo", "redo", "|", "source"
    ],
    controls: {
      paragraph: {
        list: Jodit.atom({ p: "正文", h2: "标题 2", h3: "标题 3", h4: "标题 4", blockquote: "引用" })
      }
    },
    enter: "p",
    // Its source view is a plain textarea, without the code editor and the HTML beautifier
    // Jodit would fetch from a CDN (refused by the CSP, and out of reach of an offline site).
    sourceEditor: "area",
    beautifyHTML: false,
    askBeforePasteHTML: false,
    askBeforePasteFromWord: false,
    defaultActionOnPaste: "insert_clear_html",
    link: { noFollowCheckbox: false, openInNewTabCheckbox: false },
    cleanHTML: {
      allowTags: area.getAttribute("data-allowed-tags") || false
    },
    disablePlugins: "image,image-processor,image-properties,file,video,media,iframe,drag-and-drop,drag-and-drop-element,print,preview,about,speech-recognize,ai-assistant,spellcheck"
  });
})();
